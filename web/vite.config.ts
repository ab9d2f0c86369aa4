// Vite builds web/ into web/dist, which scripts/embed-assets compiles into
// the cvops binary. Everything is bundled: the built app makes no request to
// any host but the one that served it (tests/web checks this).
//
// `npm run dev` serves the app with hot reload and forwards /api to a
// running cvops (CVOPS_URL, default http://127.0.0.1:8080).
import { defineConfig } from 'vite';

export default defineConfig({
  // JSX compiles to Preact's automatic runtime (no React, no Babel).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    assetsDir: 'assets', // hashed names; served with immutable caching
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      '/api': { target: process.env.CVOPS_URL || 'http://127.0.0.1:8080', changeOrigin: true },
    },
  },
});
