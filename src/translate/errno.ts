// Linux errno values (x86-64). The helper returns them negated in mbox_reply.status, exactly as
// the kernel's do_ipt_set_ctl/do_ipt_get_ctl would, so iptables prints its usual messages.
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EDOM = 33;
export const ERANGE = 34;
export const ENAMETOOLONG = 36;
export const ELOOP = 40;
export const ENOPROTOOPT = 92;
export const EPROTOTYPE = 91;
export const EPROTONOSUPPORT = 93;
export const EOPNOTSUPP = 95;

const NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [ESRCH]: 'ESRCH',
  [EINTR]: 'EINTR',
  [EIO]: 'EIO',
  [E2BIG]: 'E2BIG',
  [EBADF]: 'EBADF',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [ENOSPC]: 'ENOSPC',
  [EDOM]: 'EDOM',
  [ERANGE]: 'ERANGE',
  [ENAMETOOLONG]: 'ENAMETOOLONG',
  [ELOOP]: 'ELOOP',
  [ENOPROTOOPT]: 'ENOPROTOOPT',
  [EPROTOTYPE]: 'EPROTOTYPE',
  [EPROTONOSUPPORT]: 'EPROTONOSUPPORT',
  [EOPNOTSUPP]: 'EOPNOTSUPP',
};

export function errnoName(errno: number): string {
  return NAMES[errno] ?? `errno ${errno}`;
}

/**
 * A refusal with the errno the kernel would have returned and a sentence for the helper log.
 * Every layer throws this; the transport turns it into `-errno` on the wire.
 */
export class XtError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(`${errnoName(errno)}: ${message}`);
    this.name = 'XtError';
  }
}
