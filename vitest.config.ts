import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // firmware/core imports shared code by its device module name, 'shared/...': Moddable's loader
  // resolves only one leading '../' (docs/firmware.md), so the Node side learns the same name.
  resolve: { alias: [{ find: /^shared\//, replacement: fileURLToPath(new URL('./shared/', import.meta.url)) }] },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Store tests share one PostgreSQL database when DATABASE_URL is set: run files one at a time there.
    fileParallelism: !process.env.DATABASE_URL,
  },
});
