/**
 * The variables of a typical USB UPS as `upsc` lists them (the set and naming of NUT's usbhid-ups for an
 * APC Back-UPS of the BX series; the values are ordinary ones, not a capture): 49 variables, a full state
 * of about 1.5 KiB. The fan-out benchmark's simulated UPS plays it, so that a full state weighs what it
 * weighs in the field and the bytes saved by state deltas are the real ones.
 */
export const TYPICAL_UPS = `battery.charge: 100
battery.charge.low: 10
battery.charge.warning: 50
battery.date: 2001/09/25
battery.mfr.date: 2023/04/12
battery.runtime: 2310
battery.runtime.low: 120
battery.type: PbAc
battery.voltage: 27.1
battery.voltage.nominal: 24.0
device.mfr: American Power Conversion
device.model: Back-UPS BX1600MI
device.serial: 9B2315A12345
device.type: ups
driver.name: usbhid-ups
driver.parameter.bus: 001
driver.parameter.pollfreq: 30
driver.parameter.pollinterval: 2
driver.parameter.port: auto
driver.parameter.product: Back-UPS BX1600MI FW:378600G -302202G
driver.parameter.productid: 0002
driver.parameter.serial: 9B2315A12345
driver.parameter.synchronous: auto
driver.parameter.vendor: American Power Conversion
driver.parameter.vendorid: 051D
driver.version: 2.8.0
driver.version.data: APC HID 0.98
driver.version.internal: 0.47
driver.version.usb: libusb-1.0.26 (API: 0x1000109)
input.sensitivity: medium
input.transfer.high: 295
input.transfer.low: 145
input.voltage: 230.0
input.voltage.nominal: 230
ups.beeper.status: enabled
ups.delay.shutdown: 20
ups.firmware: 378600G -302202G
ups.load: 18
ups.mfr: American Power Conversion
ups.mfr.date: 2023/04/12
ups.model: Back-UPS BX1600MI
ups.productid: 0002
ups.realpower.nominal: 900
ups.serial: 9B2315A12345
ups.status: OL
ups.test.result: No test initiated
ups.timer.reboot: 0
ups.timer.shutdown: -1
ups.vendorid: 051d
`;
