// One cold start, in a fresh plain `node` process: load a handler bundle, handle one event,
// print a done line and leave. Nothing else is loaded, so the parent's clock (spawn to the
// done line) measures node's own start, which the floor pays alike, the bundle's load and
// the first invocation. Lambda never exits a warm environment, hence the done line rather
// than the exit as the end mark. The line also carries the child's own clock (performance.now,
// ms since the process started) at three points, to split the run into its phases.
//
//   node bench/children/cold-start.cjs <bundle.js> <event JSON>
"use strict";

const startedMs = performance.now();
const [bundle, eventJson] = process.argv.slice(2);
const { handler } = require(bundle);
const loadedMs = performance.now();

handler(JSON.parse(eventJson)).then(
  (result) => {
    const doneMs = performance.now();
    const { status } = JSON.parse(result.body);
    const answer = { statusCode: result.statusCode, status, startedMs, loadedMs, doneMs };
    process.stdout.write(`BENCH_DONE ${JSON.stringify(answer)}\n`);
    process.exit(0);
  },
  (error) => {
    process.stderr.write(`BENCH_FAILED ${error?.name}: ${error?.message}\n`);
    process.exit(1);
  },
);
