// Virtual time for code that reads the system clock itself: a bundled function uses `Date.now()`
// and `new Date()` (lambda/ports.ts, systemClock; the SDK's request signing; Powertools' log
// timestamps), so the only way to move its clock is to move the global Date. `shiftDate` does
// that for the span of a run and `restore` puts the real one back. Only the reading of "now"
// moves: `Date.now()`, `new Date()` and `Date()` without arguments. Timers (setTimeout) and
// performance.now() stay real, so an SDK timeout or a stalled endpoint still takes wall time.

export interface ShiftedDate {
  /** Moves every later reading of "now" forward by `ms`. */
  advance(ms: number): void;
  /** How far "now" is ahead of the real clock. */
  readonly offsetMs: number;
  /** Puts the real Date back; "now" reads the real clock again. */
  restore(): void;
}

let active = false;

/** Replaces the global Date with one whose "now" is the real clock plus an offset (0 to start). */
export function shiftDate(): ShiftedDate {
  if (active) throw new Error("shiftDate: the global Date is already shifted");
  active = true;
  const RealDate = Date;
  let offset = 0;
  const now = () => RealDate.now() + offset;
  // A proxy rather than a subclass: `Date()` as a function still works, and `instanceof Date`,
  // Date.UTC, Date.parse and the prototype are the real ones.
  globalThis.Date = new Proxy(RealDate, {
    construct: (target, args, newTarget) =>
      Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget),
    apply: () => new RealDate(now()).toString(),
    get: (target, property, receiver) => (property === "now" ? now : Reflect.get(target, property, receiver)),
  });
  return {
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0)
        throw new Error("shiftDate: advance takes a non-negative number of ms");
      offset += ms;
    },
    get offsetMs() {
      return offset;
    },
    restore() {
      globalThis.Date = RealDate;
      active = false;
    },
  };
}
