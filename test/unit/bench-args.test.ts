import { describe, expect, it } from "vitest";
import { DEFAULT_BURST, parseBurstArgs } from "../../bench/burst";
import { FULL_LOAD, parseLoadArgs, SHORT_LOAD } from "../../bench/load";

describe("run scripts' flags", () => {
  it("load: --short picks the short run and numbers override it", () => {
    expect(parseLoadArgs(["--short"])).toEqual(SHORT_LOAD);
    expect(parseLoadArgs([])).toEqual(FULL_LOAD);
    expect(parseLoadArgs(["--short", "--rate", "50", "--seconds", "2"])).toMatchObject({
      rate: 50,
      seconds: 2,
    });
  });

  it.each([
    [["--rate", "abc"], /--rate must be a number/],
    [["--seconds", "0"], /--seconds must be a number/],
    [["--failure-rate", "2"], /--failure-rate must be 0..1/],
    [["--forward-timeout-ms", "1000"], /takes FORWARD_TIMEOUT_MS from the synthesized stack/],
    [["--shrot"], /Unknown option '--shrot'/],
    [["extra"], /Unexpected argument 'extra'/],
  ])("load refuses %j", (args, message) => {
    expect(() => parseLoadArgs(args)).toThrow(message);
  });

  it("burst: defaults, and numbers override them", () => {
    expect(parseBurstArgs([])).toEqual(DEFAULT_BURST);
    expect(parseBurstArgs(["--deliveries", "10", "--max-concurrency", "3"])).toMatchObject({
      deliveries: 10,
      maxConcurrency: 3,
    });
  });

  it.each([
    [["--deliveries", "abc"], /--deliveries must be an integer/],
    [["--latency-ms", ""], /--latency-ms must be an integer/],
    [["--delivries", "5"], /Unknown option '--delivries'/],
  ])("burst refuses %j", (args, message) => {
    expect(() => parseBurstArgs(args)).toThrow(message);
  });
});
