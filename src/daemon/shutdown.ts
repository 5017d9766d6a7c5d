import type { Logger } from 'pino';

/** How long an orderly shutdown may take before the process is forced out. */
export const SHUTDOWN_DEADLINE_MS = 5_000;

/**
 * On the first SIGINT or SIGTERM run `stop` and exit 0 (1 if it failed);
 * a second signal, or `stop` outliving the deadline, exits 1 at once.
 *
 * A daemon started with an IPC channel (by `pheromones devnet`) also stops
 * when that channel closes: its parent is gone, however it died (SIGKILL
 * included, which the parent cannot pass on), and nobody would stop it.
 */
export function exitOnSignals(log: Logger, stop: () => Promise<void>, deadlineMs = SHUTDOWN_DEADLINE_MS): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals | 'parent-gone'): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, signal === 'parent-gone' ? 'the process that started this node is gone: shutting down' : 'shutting down');
    setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown took too long: exiting now');
      process.exit(1);
    }, deadlineMs).unref();
    stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (process.channel !== undefined) {
    // The channel must not keep the daemon alive by itself, only tell it its parent left.
    process.channel.unref();
    process.once('disconnect', () => onSignal('parent-gone'));
  }
}
