import { defineConfig } from "vitest/config";

// Three layers, so a change gets feedback from the fastest one that covers it (`npm run
// test:unit` etc.); `npm test` runs all three. A file belongs to the cheapest layer it fits.
// unit: pure code and in-memory twins, no socket or child process.
const UNIT = ["test/unit/**/*.test.ts"];
// system: whole runs (chaos, load, fuzz, burst, the benchmark), leak searches, the quickstart,
// alarms in simulated time, IAM against the recorded calls of every run, the console in a browser.
const SYSTEM = [
  "test/alarms.test.ts",
  "test/bench.test.ts",
  "test/burst.test.ts",
  "test/chaos.test.ts",
  "test/console.test.ts",
  "test/fuzz.test.ts",
  "test/iam.test.ts",
  "test/leak-broad.test.ts",
  "test/load.test.ts",
  "test/log-leak.test.ts",
  "test/quickstart.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: UNIT } },
      // integration: real HTTP, dynalite, the local AWS endpoint, CDK synthesis.
      {
        extends: true,
        test: { name: "integration", include: ["test/**/*.test.ts"], exclude: [...UNIT, ...SYSTEM] },
      },
      { extends: true, test: { name: "system", include: SYSTEM } },
    ],
  },
});
