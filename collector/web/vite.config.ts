// Vite builds the UI that the collector embeds; vitest runs the component tests (tests/web registers them).
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  build: {
    // CMake passes --outDir inside the build tree; this default only serves a manual `npm run build`.
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    // The CSP forbids inline script: keep every module in its own file.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    // The machine is shared (2 cores, parallel ctest): generous timeouts, the assertions poll conditions.
    testTimeout: 30000,
  },
});
