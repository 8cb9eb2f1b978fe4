/**
 * One send's time limit joined with the caller's cancel signal: `signal` aborts at whichever comes first, and
 * `timedOut` tells which it was, so the send can answer HERALD_PROVIDER_TIMEOUT or HERALD_SEND_ABORTED.
 * (AbortSignal.any and AbortSignal.timeout would do most of it, but do not say which one fired.)
 */
export class Deadline {
  readonly signal: AbortSignal;
  #timedOut = false;
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #caller?: AbortSignal;
  readonly #onCallerAbort = () => this.#controller.abort(this.#caller?.reason);

  /** Starts the clock now; always `dispose()` it when the send ends, or the timer and the listener stay. */
  constructor(timeoutMs: number, caller?: AbortSignal) {
    this.signal = this.#controller.signal;
    this.#caller = caller;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#controller.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    this.#timer.unref();
    if (caller?.aborted) this.#onCallerAbort();
    else caller?.addEventListener('abort', this.#onCallerAbort, { once: true });
  }

  /** True when the time limit, not the caller, aborted the signal. */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** True when the caller's signal aborted it. */
  get cancelled(): boolean {
    return this.signal.aborted && !this.#timedOut;
  }

  /** Stops the clock and lets go of the caller's signal. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#caller?.removeEventListener('abort', this.#onCallerAbort);
  }
}
