/**
 * Running a service's hooks (`pre`/`post` programs from its repository) with the environment the
 * issue specifies: GITOPPER_SERVICE, GITOPPER_COMMIT, GITOPPER_PREVIOUS_COMMIT, GITOPPER_CHANGED
 * (newline-separated paths). Pure logic over CommandPort: no I/O imports.
 */
import type { ServiceSpec } from '../config/config.js';
import type { CommandPort, Owner } from '../ports/host.js';

/** One hook run. */
export interface HookRun {
  readonly phase: 'pre' | 'post';
  /** The hook's repository path. */
  readonly hook: string;
  readonly code: number | null;
  readonly timedOut: boolean;
  /** Its output's last lines (at most 20). */
  readonly tail: string;
  readonly seconds: number;
}

/** What a hook sees of the apply. */
export interface HookContext {
  /** Directory the hooks' repository paths are found in (a staged copy of the commit). */
  readonly hookDir: string;
  /** The hooks' working directory. */
  readonly cwd: string;
  readonly commit: string;
  readonly previous: string;
  readonly changed: readonly string[];
  readonly owner: Owner | undefined;
}

/** Last `n` non-empty lines of `text`. */
export function lastLines(text: string, n = 20): string {
  return text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '').slice(-n).join('\n');
}

/**
 * Run the `phase` hooks of `spec` in order, stopping at the first that fails (non-zero exit,
 * signal, timeout, or not startable). Returns every run and, when one failed, the reason.
 */
export async function runHooks(phase: 'pre' | 'post', spec: ServiceSpec, ctx: HookContext, commands: CommandPort): Promise<{ runs: HookRun[]; failure: string | undefined }> {
  const hooks = spec.hooks?.[phase] ?? [];
  const runs: HookRun[] = [];
  const env = {
    GITOPPER_SERVICE: spec.service,
    GITOPPER_COMMIT: ctx.commit,
    GITOPPER_PREVIOUS_COMMIT: ctx.previous,
    GITOPPER_CHANGED: ctx.changed.join('\n'),
    GITOPPER_PHASE: phase,
  };
  for (const hook of hooks) {
    let r;
    try {
      r = await commands.run([`${ctx.hookDir}/${hook}`], { cwd: ctx.cwd, owner: ctx.owner, env, timeoutSeconds: spec.hooks?.timeoutSeconds ?? 60 });
    } catch (err) {
      const reason = `${phase} hook ${hook} could not run: ${(err as Error).message} (it must be an executable file in the repository: git mode 100755)`;
      runs.push({ phase, hook, code: null, timedOut: false, tail: '', seconds: 0 });
      return { runs, failure: reason };
    }
    const tail = lastLines(r.output);
    runs.push({ phase, hook, code: r.code, timedOut: r.timedOut, tail, seconds: r.seconds });
    if (r.code !== 0 || r.timedOut) {
      const how = r.timedOut ? `timed out after ${spec.hooks?.timeoutSeconds ?? 60}s` : r.code === null ? `killed by ${r.signal}` : `exit ${r.code}`;
      return { runs, failure: `${phase} hook ${hook} failed (${how})${tail ? `: ${lastLines(tail, 3).replace(/\n/g, ' | ')}` : ''}` };
    }
  }
  return { runs, failure: undefined };
}
