import type { BuildOptions } from 'esbuild';

export const BUNDLE_EXTERNALS: string[];

export function bundleOptions(opts: {
  root: string;
  entry: string;
  outfile: string;
  target: string;
  hashbang: string;
  external?: string[];
}): BuildOptions;
