// The plot of per-packet cost against rule count, both axes logarithmic, as a hand-written SVG:
// veth's whole path per packet (1e9/pps) for each engine and the floor, and our program alone
// under test-run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  /** [rules, ns], in rule order. */
  readonly points: readonly (readonly [number, number])[];
}

const W = 920;
const H = 500;
// The legend sits in the right margin, off the data.
const M = { left: 70, right: 230, top: 40, bottom: 50 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function decades(values: readonly number[]): [number, number] {
  const logs = values.filter((v) => v > 0).map(Math.log10);
  const lo = Math.floor(Math.min(...logs));
  const hi = Math.ceil(Math.max(...logs));
  return [lo, hi > lo ? hi : lo + 1];
}

const rulesLabel = (e: number): string => (e < 3 ? String(10 ** e) : `${10 ** (e - 3)}k`);
const nsLabel = (e: number): string =>
  e < 3 ? `${10 ** e} ns` : e < 6 ? `${10 ** (e - 3)} µs` : `${10 ** (e - 6)} ms`;

/** The SVG text of `series`. */
export function svg(title: string, series: readonly Series[]): string {
  const all = series.flatMap((s) => s.points);
  const [x0, x1] = decades([1, ...all.map((p) => p[0])]);
  const [y0, y1] = decades(all.map((p) => p[1]));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number): number => M.left + ((Math.log10(Math.max(v, 1)) - x0) / (x1 - x0)) * pw;
  const y = (v: number): number => M.top + ph - ((Math.log10(v) - y0) / (y1 - y0)) * ph;
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (let e = x0; e <= x1; e++) {
    for (let m = 1; m < 10 && (m === 1 || e < x1); m++) {
      const px = f(x(m * 10 ** e));
      const major = m === 1;
      out.push(
        `<line x1="${px}" y1="${M.top}" x2="${px}" y2="${M.top + ph}" stroke="${major ? '#bbb' : '#eee'}"/>`,
      );
      if (major) {
        out.push(
          `<text x="${px}" y="${M.top + ph + 18}" text-anchor="middle">${rulesLabel(e)}</text>`,
        );
      }
    }
  }
  for (let e = y0; e <= y1; e++) {
    for (let m = 1; m < 10 && (m === 1 || e < y1); m++) {
      const py = f(y(m * 10 ** e));
      const major = m === 1;
      out.push(
        `<line x1="${M.left}" y1="${py}" x2="${M.left + pw}" y2="${py}" stroke="${major ? '#bbb' : '#eee'}"/>`,
      );
      if (major) {
        out.push(
          `<text x="${M.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${nsLabel(e)}</text>`,
        );
      }
    }
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">rules in INPUT</text>`,
    `<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">cost per packet</text>`,
  );
  series.forEach((s, i) => {
    const pts = s.points.map(([r, ns]) => `${f(x(r))},${f(y(ns))}`);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts.length > 1) {
      out.push(
        `<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`,
      );
    }
    for (const p of pts) {
      const [cx, cy] = p.split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${s.color}"/>`);
    }
    const [lx, ly] = [M.left + pw + 14, M.top + 10 + 20 * i];
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 34}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}

export function writePlot(path: string, title: string, series: readonly Series[]): void {
  const drawn = series.filter((s) => s.points.length > 0);
  if (drawn.length === 0) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, svg(title, drawn));
}
