/**
 * Pause on rate limits: after a 429, no call goes to that upstream until the time
 * it gave. Shared by every panel view of every tenant in a process, or across
 * processes when it is kept in Redis.
 */

export interface RateLimitGate {
  /** Epoch milliseconds until which calls are paused, or undefined when they may go ahead. */
  pausedUntil(): Promise<number | undefined>;
  pause(until: number): Promise<void>;
}

export class MemoryRateLimitGate implements RateLimitGate {
  private until = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async pausedUntil(): Promise<number | undefined> {
    return this.until > this.now() ? this.until : undefined;
  }

  async pause(until: number): Promise<void> {
    this.until = Math.max(this.until, until);
  }
}
