import type { Result, ScenarioOptions } from './scenarios.js';
export async function partitionScenario(o: ScenarioOptions): Promise<Result> {
  throw new Error(`partition (${o.nodes} nodes) is not written yet`);
}
