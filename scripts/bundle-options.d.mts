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

/** `text` with every non-ASCII character written as its \uXXXX escape (what the bundles are written as). */
export function asciiOnly(text: string): string;
