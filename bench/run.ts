/**
 * `npm run bench` runs every benchmark; `npm run bench -- xs-crypto` runs the named ones.
 * Each benchmark is one module returning a BenchReport; ./report writes bench/results/<name>.md
 * and .json and this prints the markdown. Add a benchmark by adding its module to the list.
 */
import { type Benchmark, writeReport } from './report';
import { billPaymentsBenchmark } from './bill-payments';
import { checkoutsBenchmark } from './checkouts';
import { kmsHsmBenchmark } from './kms-hsm';
import { kmsThroughputBenchmark } from './kms-throughput';
import { mobilePaymentsBenchmark } from './mobile-payments';
import { mtmsDeviceIdentityBenchmark } from './mtms-device-identity';
import { tmsBenchmark } from './tms';
import { xsCryptoBenchmark } from './xs-crypto';
import { xsDeviceBudgetBenchmark } from './xs-device-budget';
import { xsDeviceLoadBenchmark } from './xs-device-load';
import { xsDukptBenchmark } from './xs-dukpt';
import { xsOnboardingBenchmark } from './xs-onboarding';

const benchmarks: Benchmark[] = [xsCryptoBenchmark, kmsThroughputBenchmark, mobilePaymentsBenchmark, kmsHsmBenchmark, mtmsDeviceIdentityBenchmark, xsOnboardingBenchmark, xsDeviceBudgetBenchmark, xsDeviceLoadBenchmark, tmsBenchmark, xsDukptBenchmark, billPaymentsBenchmark, checkoutsBenchmark];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !benchmarks.some((b) => b.name === n));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${benchmarks.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

for (const benchmark of benchmarks.filter((b) => wanted.length === 0 || wanted.includes(b.name))) {
  const report = await benchmark.run();
  console.log(writeReport(report));
  if (report.failures?.length) {
    console.error(`${benchmark.name}: the run had failures; its numbers do not stand`);
    process.exitCode = 1;
  }
}
