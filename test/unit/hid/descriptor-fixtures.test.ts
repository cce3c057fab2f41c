/**
 * The descriptor parser and report codec on real captures: every descriptor parses, and every field value
 * NUT published for a capture (`paths`) decodes from the same bytes to the same physical value, at the same
 * report ID, type, bit offset and size, under the same usage path where the path uses standard names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hexToBytes } from '../../../master/sources/usbhid/hid/hex.js';
import { decodeField } from '../../../master/sources/usbhid/hid/report-codec.js';
import { isStandardUsageName } from '../../../master/sources/usbhid/hid/usage-names.js';
import { fixtureFiles, loadFixture } from './fixtures.js';

const standardPath = (path: string) =>
  path.split('.').every((s) => isStandardUsageName(s) || /^\[\d+\]$/.test(s));

describe('report descriptors of real UPSes', () => {
  for (const file of fixtureFiles()) {
    const name = file.split('/').pop()!;
    it(`${name}: parses and decodes every published value`, () => {
      const { capture, descriptor } = loadFixture(file);
      assert.ok(descriptor.fields.length > 0, 'has fields');
      // Every feature report in the capture has the length the descriptor declares (or is a known short answer).
      for (const key of Object.keys(capture.featureReports)) {
        assert.ok(
          descriptor.reportLengths.Feature.has(Number(key)) ||
            descriptor.reportLengths.Input.has(Number(key)),
          `report ${key} declared`,
        );
      }
      for (const vector of capture.paths ?? []) {
        const where = `${vector.path} ${vector.type} report ${vector.reportId} bits ${vector.offset}+${vector.size}`;
        const field = descriptor.fields.find(
          (f) =>
            f.type === vector.type &&
            f.reportId === vector.reportId &&
            f.bitOffset === vector.offset &&
            f.bitSize === vector.size,
        );
        assert.ok(field, `${where}: field exists`);
        if (standardPath(vector.path)) assert.equal(field.path, vector.path, `${where}: usage path`);
        else
          assert.equal(field.path.split('.').length, vector.path.split('.').length, `${where}: path depth`);
        const bytes = hexToBytes(capture.featureReports[String(vector.reportId)]!);
        assert.equal(decodeField(bytes, field), vector.value, `${where}: value`);
      }
    });
  }

  it('covers the published vectors of at least 8 captures', () => {
    const withVectors = fixtureFiles().filter((f) => (loadFixture(f).capture.paths ?? []).length > 0);
    assert.ok(withVectors.length >= 8, `${withVectors.length} captures with vectors`);
  });

  it('reads Logical Maximum `25 ff` after Logical Minimum 0 as 255 (APC BX1600MI)', () => {
    const { descriptor } = loadFixture('apc-back-ups-bx1600mi.json');
    const charge = descriptor.fields.find(
      (f) => f.path === 'UPS.PowerSummary.RemainingCapacity' && f.type === 'Feature',
    );
    assert.equal(charge?.logicalMin, 0);
    assert.equal(charge?.logicalMax, 255);
  });

  it('keeps Unit and Unit Exponent in force for later items (APC Back-UPS 500)', () => {
    const { descriptor, capture } = loadFixture('apc-back-ups-500.json');
    const nominal = descriptor.fields.find((f) => f.path === 'UPS.PowerSummary.ConfigVoltage')!;
    assert.equal(nominal.unit, 0x00f0d121);
    assert.equal(nominal.unitExponent, 5);
    assert.equal(decodeField(hexToBytes(capture.featureReports['8']!), nominal), 12);
  });

  it('names vendor collection types as instances (Eaton Flow.[1], Input.[3])', () => {
    const { descriptor } = loadFixture('eaton-5sc-750.json');
    assert.ok(descriptor.fields.some((f) => f.path === 'UPS.Flow.[4].ConfigApparentPower'));
    assert.ok(descriptor.fields.some((f) => f.path === 'UPS.PowerConverter.Input.[1].Voltage'));
  });

  it('keeps Input and Feature layouts of one report ID apart (5131:2007)', () => {
    const { descriptor } = loadFixture('unknown-5131-2007.json');
    assert.equal(descriptor.reportLengths.Input.get(11), 7);
    assert.equal(descriptor.reportLengths.Feature.get(11), 23);
  });
});
