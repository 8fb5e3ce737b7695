import { BaseCommand, backendFlag } from '../cli/base';
import { BACKENDS, BackendChoice, selectBackend } from '../backend';

export default class Env extends BaseCommand {
  static summary = 'Show which tfjs backend rlhf will use, why the faster ones were skipped, versions and devices.';

  static description = `rlhf runs the same tfjs code on four backends, tried in this order by --backend auto:
  tensorflow-gpu  @tensorflow/tfjs-node-gpu (CUDA): \`npm run setup:native -- --gpu\`; auto takes it only when an NVIDIA GPU is visible
  tensorflow      @tensorflow/tfjs-node (libtensorflow on the CPU, multi-threaded): \`npm run setup:native\`
  wasm            @tensorflow/tfjs-backend-wasm: always installed; single-threaded in Node
  cpu             plain JavaScript kernels: always there, 5–15× slower than wasm
For each backend above the chosen one this prints why it was skipped and how to install it.`;

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --backend wasm --json'];

  static flags = { ...backendFlag };

  async run() {
    const { flags } = await this.parse(Env);
    const report = await selectBackend(flags.backend as BackendChoice);
    const lines = [`backend: ${report.chosen} (tfjs '${report.tfjsBackend}')`];
    for (const a of report.attempts) if (!a.ok) lines.push(`  skipped ${a.name}: ${a.reason}`);
    const untried = BACKENDS.slice(BACKENDS.indexOf(report.chosen) + 1);
    if (untried.length) lines.push(`  also available as fallbacks: ${untried.join(', ')}`);
    lines.push('versions:');
    for (const [k, v] of Object.entries(report.versions)) lines.push(`  ${k} ${v}`);
    lines.push('devices:');
    for (const d of report.devices) lines.push(`  ${d}`);
    if (report.warning) lines.push(`warning: ${report.warning}`);
    if (report.kernels.length) {
      lines.push("rlhf's own kernels on this backend:");
      for (const k of report.kernels) lines.push(`  ${k}`);
    }
    this.log(lines.join('\n'));
    return report;
  }
}
