import { defineConfig } from "vite";

// The build goes to dist/, which is committed and embedded in the server
// binary (embed.go), so a fresh clone runs without npm. No source maps keep
// the committed bundle small.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
