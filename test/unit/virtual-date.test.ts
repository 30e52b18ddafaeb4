// The chaos run's virtual clock: the global Date reads "now" ahead by the offset, everything
// else about Date is unchanged, and the real one comes back.
import { afterEach, describe, expect, it } from "vitest";
import { type ShiftedDate, shiftDate } from "../../testkit/virtual-date";

const HOUR = 3_600_000;
let shifted: ShiftedDate | undefined;
afterEach(() => {
  shifted?.restore();
  shifted = undefined;
});

describe("shiftDate", () => {
  it("moves Date.now(), new Date() and Date() by the offset", () => {
    const RealDate = Date;
    shifted = shiftDate();
    shifted.advance(5 * HOUR);
    expect(shifted.offsetMs).toBe(5 * HOUR);
    // Real time passes between the two readings, but far less than an hour.
    const ahead = (reading: number) => reading - RealDate.now();
    expect(ahead(Date.now())).toBeGreaterThan(4 * HOUR);
    expect(ahead(RealDate.parse(new Date().toISOString()))).toBeGreaterThan(4 * HOUR);
    expect(ahead(RealDate.parse(Date()))).toBeGreaterThan(4 * HOUR);
    shifted.advance(HOUR);
    expect(ahead(Date.now())).toBeGreaterThan(5 * HOUR);
  });

  it("leaves dates built from a value, parsing, UTC and instanceof alone", () => {
    shifted = shiftDate();
    shifted.advance(HOUR);
    expect(new Date(0).toISOString()).toBe("1970-01-01T00:00:00.000Z");
    expect(new Date("2026-01-01T00:00:00Z").getTime()).toBe(1_767_225_600_000);
    expect(Date.UTC(2026, 0, 1)).toBe(1_767_225_600_000);
    expect(Date.parse("2026-01-01T00:00:00Z")).toBe(1_767_225_600_000);
    expect(new Date() instanceof Date).toBe(true);
    expect(Object.prototype.toString.call(new Date())).toBe("[object Date]");
  });

  it("restores the real Date, and refuses a second shift while one is active", () => {
    const RealDate = Date;
    shifted = shiftDate();
    expect(Date).not.toBe(RealDate);
    expect(() => shiftDate()).toThrow(/already shifted/);
    expect(() => shifted?.advance(-1)).toThrow(/non-negative/);
    shifted.advance(10 * HOUR);
    shifted.restore();
    shifted = undefined;
    expect(Date).toBe(RealDate);
    expect(Math.abs(Date.now() - RealDate.now())).toBeLessThan(HOUR);
  });
});
