/**
 * Watches one file (the config) with chokidar and calls back, debounced, after it changed, was
 * replaced (editors and `git checkout` write a new file and rename it) or re-appeared.
 */
import { watch, type FSWatcher } from 'chokidar';

/** A running watch; `close()` stops it. */
export interface FileWatch {
  close(): Promise<void>;
}

/**
 * Watch `file`; `onChange` runs at most once per `debounceMs` (default 300 ms) quiet period after a
 * burst of events. Errors of the watcher go to `onError`.
 */
export function watchFile(file: string, onChange: () => void, onError: (err: unknown) => void, debounceMs = 300): FileWatch {
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const w: FSWatcher = watch(file, { ignoreInitial: true, atomic: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 } });
  w.on('change', fire).on('add', fire).on('error', onError);
  return {
    close: async () => {
      clearTimeout(timer);
      await w.close();
    },
  };
}
