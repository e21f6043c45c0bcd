/**
 * The layers of docs/architecture.md, checked with dependency-cruiser and the rules in
 * .dependency-cruiser.cjs: the source breaks none of them, and each rule does catch a made-up
 * tree that breaks it (so a rule that matches nothing cannot pass unnoticed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const RULES = path.join(ROOT, '.dependency-cruiser.cjs');

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
}

/** Cruise `paths` below `cwd` with the project's rules: the violations found, and how many modules were read. */
async function cruise(cwd: string, paths: string[]): Promise<{ violations: Violation[]; modules: number }> {
  // exit status is the number of errors: read the JSON either way
  const out = await promisify(execFile)(process.execPath, [CLI, '--config', RULES, '--output-type', 'json', ...paths], { cwd, maxBuffer: 64 << 20 }).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  const result = JSON.parse(out.stdout) as { summary: { violations: Violation[] }; modules: unknown[] };
  return { violations: result.summary.violations, modules: result.modules.length };
}

test('src/ and cmd/ keep the layers: no import runs up a layer, no cycle, no I/O in the core', { timeout: 120_000 }, async () => {
  const { violations, modules } = await cruise(ROOT, ['src', 'cmd']);
  assert.ok(modules > 80, `the cruise read the source (${modules} modules)`);
  assert.deepEqual(
    violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    [],
  );
});

test('each layer rule catches a tree that breaks it', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gitopper-layers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
    'cmd/main.ts': "import '../src/daemon/root.js';\n",
    'src/daemon/root.ts': "import '../http/app.js';\nimport '../adapters/disk.js';\n",
    'src/http/app.ts': "import '../core/agent.js';\nimport '../daemon/root.js';\n",
    'src/ctl/client.ts': "import '../core/agent.js';\nimport '../api/wire.js';\n",
    'src/core/agent.ts': "import 'node:fs';\nimport '../adapters/disk.js';\nimport '../config/config.js';\n",
    'src/adapters/disk.ts': "import '../core/agent.js';\nimport '../ports/git.js';\n",
    'src/config/config.ts': "import 'node:fs';\nimport '../ports/git.js';\n",
    'src/ports/git.ts': "import '../core/agent.js';\n",
    'src/api/wire.ts': "import '../config/config.js';\n",
    'src/errors/base.ts': "import 'node:fs';\nimport '../api/wire.js';\n",
  };
  for (const [p, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, p)), { recursive: true });
    await writeFile(path.join(dir, p), text);
  }
  const { violations } = await cruise(dir, ['src', 'cmd']);
  const found = new Set(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`));
  for (const want of [
    'daemon-down-only: src/http/app.ts → src/daemon/root.ts',
    'ctl-is-a-client: src/ctl/client.ts → src/core/agent.ts',
    'core-not-above: src/core/agent.ts → src/adapters/disk.ts',
    'core-no-io: src/core/agent.ts → fs',
    'adapters-below-core: src/adapters/disk.ts → src/core/agent.ts',
    'config-is-pure: src/config/config.ts → src/ports/git.ts',
    'config-no-io: src/config/config.ts → fs',
    'ports-are-interfaces: src/ports/git.ts → src/core/agent.ts',
    'leaves-are-leaves: src/api/wire.ts → src/config/config.ts',
    'errors-import-nothing: src/errors/base.ts → src/api/wire.ts',
    'errors-no-io: src/errors/base.ts → fs',
  ]) {
    assert.ok(found.has(want), `${want} (found: ${[...found].join('; ')})`);
  }
  assert.ok([...found].some((v) => v.startsWith('no-circular: ')), 'the loop core → adapters → core is a cycle');
});
