// Preload (`NODE_OPTIONS=--import=<this file>`; Node 20 refuses --cpu-prof there): profiles the whole
// process with the inspector and writes `<BENCH_CPU_PROF_DIR>/<pid>.cpuprofile` when it exits.
// SIGWINCH cuts the profile: what was recorded so far goes to `<pid>-<k>.cpuprofile` (k = 1, 2, …)
// and a new one starts, so a bench can profile a window of a long-running process.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  const cut = (name) => {
    // a same-thread session answers synchronously, so this runs before the process is gone
    session.post('Profiler.stop', (err, res) => {
      if (!err && res) writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(res.profile));
    });
  };
  let k = 0;
  process.on('SIGWINCH', () => {
    cut(`${process.pid}-${++k}`);
    session.post('Profiler.start');
  });
  process.on('exit', () => cut(String(process.pid)));
}
