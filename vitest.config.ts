import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Store tests share one PostgreSQL database when DATABASE_URL is set: run files one at a time there.
    fileParallelism: !process.env.DATABASE_URL,
  },
});
