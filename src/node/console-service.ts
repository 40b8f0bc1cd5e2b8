import type { ConsoleSources } from '../console/views.js';
import type { WebConsole, WebConsoleOptions } from '../console/web-console.js';
import type { Logger } from '../log.js';
import { type Service, stoppedError } from './service.js';

/**
 * The web console as a node service. Its code (an HTTP server, the API, the page's assets) is loaded when the
 * service starts, so `--no-console` nodes and the CLI's client commands, which load this module too, do not pay
 * for it.
 */
export class ConsoleService implements Service {
  readonly name = 'web console';
  /** The running console (its `url` names the bound port); null until started. */
  console: WebConsole | null = null;

  constructor(
    private readonly opts: WebConsoleOptions,
    private readonly src: ConsoleSources,
    private readonly logger: Logger,
  ) {}

  async start(signal: AbortSignal): Promise<void> {
    if (this.console !== null) return;
    const { WebConsole } = await import('../console/web-console.js');
    if (signal.aborted) throw stoppedError(this.name);
    const c = new WebConsole(this.opts, this.src, this.logger);
    await c.start(signal);
    this.console = c;
  }

  async stop(): Promise<void> {
    const c = this.console;
    this.console = null;
    await c?.stop();
  }
}
