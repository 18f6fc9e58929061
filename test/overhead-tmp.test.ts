import { it } from 'vitest';
import { measureServiceOverhead } from '../core/service/overhead';
import { buildServiceBundle, SERVICE_BUNDLE } from './support/service';
it('measure', async () => {
  await buildServiceBundle();
  const passes = Number(process.env.PASSES ?? 23);
  const m = await measureServiceOverhead({ config: { seed: 1337, passes, learningRate: 0.03, trainLimit: null }, repeats: Number(process.env.REPEATS ?? 2), servicePath: SERVICE_BUNDLE });
  console.log('MEASURED', JSON.stringify(m));
}, 900_000);
