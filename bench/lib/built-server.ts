import { execFileSync } from 'node:child_process';

let built = false;

/**
 * Node arguments that run the Rolecall CLI as `npm start` does: from the esbuild bundle, not
 * through tsx (whose module loading is most of a 1.4 s start). Builds the bundle once per
 * bench run, so the figures are always of the source in the working tree.
 */
export function builtCli(): string[] {
  if (!built) {
    execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
    built = true;
  }
  return ['dist/rolecall.mjs'];
}
