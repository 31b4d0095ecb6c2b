import { defineConfig } from 'vitest/config';

// One script and one style sheet under fixed names: the gateway compiles exactly these files
// into the binary (gateway/src/ui.rs). `npm run build` output is committed (docs/UI.md).
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: false,
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    rolldownOptions: {
      output: {
        entryFileNames: 'assets/app.js',
        chunkFileNames: 'assets/app-[name].js',
        assetFileNames: 'assets/app[extname]',
        codeSplitting: false,
      },
    },
  },
  server: {
    // `npm run dev`: the API of a running gateway (docs/UI.md).
    proxy: { '/api': { target: process.env.GATEWAY ?? 'https://127.0.0.1:4588', secure: false } },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
