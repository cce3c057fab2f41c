/**
 * Decoding and encoding of protocol messages. Validators are compiled once at module load; a decode
 * never throws: it returns a coded rejection the caller counts, logs and turns into a close code.
 */
import { randomUUID } from 'node:crypto';
import type { TObject } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import type { ErrorCode } from '../errors.js';
import {
  AGENT_SCHEMAS,
  type AgentMsg,
  CloseCodes,
  MASTER_SCHEMAS,
  MAX_MESSAGE_BYTES,
  type MasterMsg,
  PROTOCOL_VERSION,
} from './messages.js';

export type DecodeResult<M> =
  | { ok: true; msg: M }
  | { ok: false; code: ErrorCode; closeCode: number; reason: string };

const ajv = new Ajv({ allErrors: false, strict: false });

function compileAll(schemas: Record<string, TObject>): Map<string, ValidateFunction> {
  return new Map(Object.entries(schemas).map(([type, schema]) => [type, ajv.compile(schema)]));
}

const masterValidators = compileAll(MASTER_SCHEMAS);
const agentValidators = compileAll(AGENT_SCHEMAS);

function decode<M>(
  raw: string | Buffer,
  validators: Map<string, ValidateFunction>,
  maxBytes: number,
): DecodeResult<M> {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > maxBytes) {
    return {
      ok: false,
      code: 'PROTO_TOO_LARGE',
      closeCode: CloseCodes.TOO_LARGE,
      reason: `${size} > ${maxBytes} bytes`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    return {
      ok: false,
      code: 'PROTO_MALFORMED',
      closeCode: CloseCodes.MALFORMED,
      reason: (err as Error).message,
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      ok: false,
      code: 'PROTO_MALFORMED',
      closeCode: CloseCodes.MALFORMED,
      reason: 'not a JSON object',
    };
  }
  const obj: Record<string, unknown> = value as Record<string, unknown>;
  if (obj.v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      code: 'PROTO_VERSION',
      closeCode: CloseCodes.VERSION,
      reason: `protocol version ${JSON.stringify(obj.v)}, expected ${PROTOCOL_VERSION}`,
    };
  }
  const type = obj.type;
  const validate = typeof type === 'string' ? validators.get(type) : undefined;
  if (!validate) {
    return {
      ok: false,
      code: 'PROTO_UNKNOWN_TYPE',
      closeCode: CloseCodes.UNKNOWN_TYPE,
      reason: `unknown message type ${JSON.stringify(type)}`.slice(0, 200),
    };
  }
  if (!validate(obj)) {
    const e = validate.errors?.[0];
    return {
      ok: false,
      code: 'PROTO_INVALID',
      closeCode: CloseCodes.INVALID,
      reason: `${String(type)}: ${e?.instancePath || '/'} ${e?.message ?? 'invalid'}`,
    };
  }
  return { ok: true, msg: obj as M };
}

export function decodeAgentMessage(
  raw: string | Buffer,
  maxBytes = MAX_MESSAGE_BYTES,
): DecodeResult<AgentMsg> {
  return decode<AgentMsg>(raw, agentValidators, maxBytes);
}

export function decodeMasterMessage(
  raw: string | Buffer,
  maxBytes = MAX_MESSAGE_BYTES,
): DecodeResult<MasterMsg> {
  return decode<MasterMsg>(raw, masterValidators, maxBytes);
}

type Body<M> = M extends unknown ? Omit<M, 'v' | 'id' | 'ts'> : never;

/** Wraps a body in the envelope: version, a fresh id and the timestamp. */
export function envelop<M extends { type: string }>(body: Body<M>, now = Date.now()): M {
  return { v: PROTOCOL_VERSION, id: randomUUID(), ts: now, ...body } as unknown as M;
}

export function encode(msg: MasterMsg | AgentMsg): string {
  return JSON.stringify(msg);
}
