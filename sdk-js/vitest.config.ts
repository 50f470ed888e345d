import { defineConfig } from 'vitest/config';

export default defineConfig({
  define: { __VERSION__: JSON.stringify('test') },
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 15000,
  },
});
