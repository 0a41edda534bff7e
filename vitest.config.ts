import { defineConfig } from 'vitest/config';

// Root tests share kernel state (netns names, bpffs pins): run files one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
