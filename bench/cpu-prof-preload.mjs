// Preload (`NODE_OPTIONS=--import=<this file>`; Node 20 refuses --cpu-prof there): profiles the whole
// process with the inspector and writes `<BENCH_CPU_PROF_DIR>/<pid>.cpuprofile` when it exits.
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
  process.on('exit', () => {
    // a same-thread session answers synchronously, so this runs before the process is gone
    session.post('Profiler.stop', (err, res) => {
      if (!err && res) writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
