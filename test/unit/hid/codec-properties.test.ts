/**
 * Property tests (fast-check) for the codec: encode/decode round trips over random field layouts, and
 * random, truncated and mutated descriptors and reports that may only ever fail with the parser's own
 * coded error (HID_DESCRIPTOR / HID_REPORT), never another exception and never a hang.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hexToBytes } from '../../../master/sources/usbhid/hid/hex.js';
import {
  decodeField,
  decodeLogical,
  decodeReport,
  encodeField,
} from '../../../master/sources/usbhid/hid/report-codec.js';
import {
  parseReportDescriptor,
  type ReportField,
} from '../../../master/sources/usbhid/hid/report-descriptor.js';
import { isUpsfleetError } from '../../../shared/errors.js';
import { fixtureFiles, loadFixture } from './fixtures.js';

const fixtures = fixtureFiles().map((f) => loadFixture(f));
const descriptors = fixtures.map((f) => hexToBytes(f.capture.reportDescriptor));

function onlyCoded(code: 'HID_DESCRIPTOR' | 'HID_REPORT', fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!isUpsfleetError(err, code)) throw new Error(`unexpected ${String(err)}`, { cause: err });
  }
}

const layout = fc
  .record({
    bitSize: fc.integer({ min: 1, max: 32 }),
    bitOffset: fc.integer({ min: 0, max: 64 }),
    signed: fc.boolean(),
    unitExponent: fc.integer({ min: -8, max: 7 }),
    volt: fc.boolean(),
    reportId: fc.integer({ min: 0, max: 255 }),
  })
  .map(
    ({ bitSize, bitOffset, signed, unitExponent, volt, reportId }): ReportField => ({
      type: 'Feature',
      reportId,
      bitOffset,
      bitSize,
      usage: 0x840030,
      usagePath: [0x840030],
      path: 'UPS.Voltage',
      logicalMin: signed ? -(2 ** (bitSize - 1)) : 0,
      logicalMax: signed ? 2 ** (bitSize - 1) - 1 : 2 ** bitSize - 1,
      physicalMin: undefined,
      physicalMax: undefined,
      unit: volt ? 0x00f0d121 : 0,
      unitExponent,
      flags: 2,
    }),
  );

describe('codec properties', () => {
  it('decode(encode(x)) == x over random field layouts', () => {
    fc.assert(
      fc.property(
        layout.chain((field) =>
          fc.tuple(
            fc.constant(field),
            fc.integer({ min: field.logicalMin, max: field.logicalMax }),
            fc.uint8Array({ minLength: 16, maxLength: 16 }),
          ),
        ),
        ([field, logical, noise]) => {
          const base = Uint8Array.from(noise);
          if (field.reportId !== 0) base[0] = field.reportId;
          const physical = decodeField(encodeLogicalViaPhysical(field, logical, base), field);
          const encoded = encodeField(base, field, physical);
          assert.equal(decodeLogical(encoded, field), logical);
          assert.equal(decodeField(encoded, field), physical);
          // Bits outside the field are untouched.
          const cleared = encodeField(encoded, field, decodeField(base, field));
          assert.deepEqual(cleared, base);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('parses random bytes, or fails with HID_DESCRIPTOR only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        onlyCoded('HID_DESCRIPTOR', () => parseReportDescriptor(bytes));
      }),
      { numRuns: 30_000 },
    );
  });

  it('truncated and mutated real descriptors fail with HID_DESCRIPTOR only', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: descriptors.length - 1 }),
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        (which, cut, mutations) => {
          const original = descriptors[which]!;
          const bytes = original.slice(0, cut % (original.length + 1));
          for (const [at, value] of mutations) if (bytes.length) bytes[at % bytes.length] = value;
          onlyCoded('HID_DESCRIPTOR', () => {
            const d = parseReportDescriptor(bytes);
            for (const f of d.fields.slice(0, 50)) assert.ok(f.bitSize >= 1);
          });
        },
      ),
      { numRuns: 30_000 },
    );
  });

  it('random and truncated reports decode or fail with HID_REPORT only', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: fixtures.length - 1 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.constantFrom('Input' as const, 'Feature' as const),
        (which, report, type) => {
          const { descriptor } = fixtures[which]!;
          onlyCoded('HID_REPORT', () => decodeReport(descriptor, type, report));
          for (const field of descriptor.fields.slice(0, 30))
            onlyCoded('HID_REPORT', () => decodeField(report, field));
        },
      ),
      { numRuns: 25_000 },
    );
  });
});

/** A physical value that certainly maps back to `logical`: decode the logical value written raw. */
function encodeLogicalViaPhysical(field: ReportField, logical: number, base: Uint8Array): Uint8Array {
  const out = Uint8Array.from(base);
  const header = field.reportId !== 0 ? 1 : 0;
  const raw = logical < 0 ? logical + 2 ** field.bitSize : logical;
  for (let i = 0; i < field.bitSize; i++) {
    const bit = header * 8 + field.bitOffset + i;
    const set = Math.floor(raw / 2 ** i) % 2 === 1;
    out[bit >> 3] = set ? out[bit >> 3]! | (1 << (bit & 7)) : out[bit >> 3]! & ~(1 << (bit & 7));
  }
  return out;
}
