// Copies the Digital Agency design tokens (npm @digital-go-jp/design-tokens) into the committed static
// CSS of the counter UI, and axe-core into the browser tests, so that neither the app nor the tests need
// npm at run time.  Refresh: cd web && npm ci && npm run build, then commit the two copied files.
import { readFileSync, writeFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync("node_modules/@digital-go-jp/design-tokens/package.json", "utf8"));
const css = readFileSync("node_modules/@digital-go-jp/design-tokens/dist/tokens.css", "utf8");
writeFileSync(
  "../src/juki/web/static/tokens.css",
  `/* ${pkg.name} ${pkg.version} (MIT, (c) デジタル庁), copied by web/build-tokens.mjs: do not edit. */\n` + css,
);
const axe = JSON.parse(readFileSync("node_modules/axe-core/package.json", "utf8"));
writeFileSync("../tests/e2e/vendor/axe.min.js", readFileSync("node_modules/axe-core/axe.min.js", "utf8"));
console.log(`tokens ${pkg.version}, axe-core ${axe.version} copied`);
