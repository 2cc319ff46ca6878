// Builds dist/falc: one self-contained executable.
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const root = join(import.meta.dir, "..");
// --outfile lets parallel work build its own binary without clobbering dist/falc.
const i = process.argv.indexOf("--outfile");
const outfile = resolve(i > 0 ? process.argv[i + 1]! : join(root, "dist/falc"));
mkdirSync(dirname(outfile), { recursive: true });

const result = await Bun.build({
  entrypoints: [join(root, "src/main.ts")],
  compile: {
    outfile,
    // Stage and plugin modules loaded from disk at run time resolve their package.json like a normal bun process.
    autoloadPackageJson: true,
  },
  minify: false,
  // Precompiled bytecode halves start-up (≈200 → ≈90 ms for `falc --version` here): short commands,
  // `falc sync worker --once` and every worker child re-exec pay it.
  bytecode: true,
  format: "esm",
  // One chunk per dynamic import: a module's imports of node builtins (zlib, crypto, net...) are hoisted to
  // the top of its chunk, so without splitting every command loaded all of them at start (a third of
  // `falc --version`'s CPU).
  splitting: true,
  sourcemap: "linked",
  plugins: [
    {
      // ink imports react-devtools-core only when DEV is set; the package is not installed, so stub it.
      name: "stub-react-devtools-core",
      setup(build) {
        build.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: "react-devtools-core", namespace: "stub" }));
        build.onLoad({ filter: /.*/, namespace: "stub" }, () => ({ contents: "export default { initialize() {}, connectToDevTools() {} };", loader: "js" }));
      },
    },
  ],
});

if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile}`);
