/**
 * The `upsfleet-hid-capture/1` file: a device's identity, report descriptor and the reports it answered,
 * as JSON. The schema is the single source of truth for the type; readers ignore unknown fields
 * (fixtures also carry `paths` and `expected`). Every problem is reported with where it is.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { UpsfleetError } from '../../../shared/errors.js';
import { hexToBytes } from './hid/hex.js';
import { parseReportDescriptor, type ReportDescriptor } from './hid/report-descriptor.js';

export const CAPTURE_FORMAT = 'upsfleet-hid-capture/1';

const Hex = Type.String({ pattern: '^([0-9a-fA-F]{2})*$' });
const UsbId = Type.String({ pattern: '^[0-9a-f]{4}$' });

export const CaptureSchema = Type.Object({
  format: Type.Literal(CAPTURE_FORMAT),
  device: Type.Object({
    vendorId: UsbId,
    productId: UsbId,
    manufacturer: Type.String(),
    product: Type.String(),
    serialNumber: Type.Optional(Type.String()),
  }),
  reportDescriptor: Type.String({ pattern: '^([0-9a-fA-F]{2})+$' }),
  featureReports: Type.Record(Type.String({ pattern: '^(0|[1-9][0-9]{0,2})$' }), Hex),
  inputReports: Type.Optional(Type.Array(Hex)),
  source: Type.Optional(Type.String()),
  notes: Type.Optional(Type.String()),
});

export type Capture = Static<typeof CaptureSchema>;

const ajv = new Ajv({ allErrors: true, strict: false });
const validateCapture = ajv.compile<Capture>(CaptureSchema);

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}

/**
 * Parses capture text: valid JSON, matching the schema, a descriptor that parses, feature reports whose
 * first byte equals their key when the descriptor uses report IDs. Throws HID_CAPTURE naming the place.
 */
export function parseCapture(
  text: string,
  file = 'capture',
): { capture: Capture; descriptor: ReportDescriptor } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UpsfleetError('HID_CAPTURE', `${file}: not valid JSON (${(err as Error).message})`, { file });
  }
  if (!validateCapture(json)) {
    const problems = describe(validateCapture.errors);
    throw new UpsfleetError('HID_CAPTURE', `${file}: ${problems.join('; ')}`, { file, problems });
  }
  const capture = json;
  let descriptor: ReportDescriptor;
  try {
    descriptor = parseReportDescriptor(hexToBytes(capture.reportDescriptor));
  } catch (err) {
    throw new UpsfleetError(
      'HID_CAPTURE',
      `${file}: /reportDescriptor ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
  for (const [key, hex] of Object.entries(capture.featureReports)) {
    const bytes = hexToBytes(hex);
    if (bytes.length === 0) {
      throw new UpsfleetError('HID_CAPTURE', `${file}: /featureReports/${key} is empty`, {
        file,
        reportId: key,
      });
    }
    if (descriptor.usesReportIds && bytes[0] !== Number(key)) {
      throw new UpsfleetError(
        'HID_CAPTURE',
        `${file}: /featureReports/${key} starts with report ID ${bytes[0]}, not ${key}`,
        { file, reportId: key },
      );
    }
  }
  for (const [index, hex] of (capture.inputReports ?? []).entries()) {
    if (hex.length === 0)
      throw new UpsfleetError('HID_CAPTURE', `${file}: /inputReports/${index} is empty`, { file });
  }
  return { capture, descriptor };
}

export function formatCapture(capture: Capture): string {
  return `${JSON.stringify(capture, null, 2)}\n`;
}
