/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API to a platform started with `make up`.
const gateway = process.env.FLOWTAPE_GATEWAY ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { "@": new URL("./src", import.meta.url).pathname } },
  server: { proxy: { "/api": gateway, "/hooks": gateway } },
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 4000 },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
    // @rjsf/mantine imports dayjs plugins without file extensions: let Vite resolve them
    server: { deps: { inline: [/@rjsf\/mantine/, /@mantine\/dates/] } },
  },
});
