/**
 * Imported first by the one-file agent: it handles a few messages a minute, so V8's optimizing compiler
 * (TurboFan) buys it nothing while its code and metadata cost ~12 MiB of an idle agent's RSS (78 -> 62 MiB
 * measured on Node 20 with the unit's heap flags). Turned off here rather than on the command line because
 * the flag's name changed (--opt became --turbofan in V8 11) and node refuses to start on a flag it does not
 * know: after a Node.js upgrade the unit would fail instead of running a little larger.
 */
import { setFlagsFromString } from 'node:v8';

const v8Major = Number(process.versions.v8.split('.')[0]);
setFlagsFromString(v8Major >= 11 ? '--no-turbofan' : '--no-opt');
