/**
 * Human-readable descriptions of NUT variables and instant commands, answered to GET DESC and
 * GET CMDDESC (upsrw and upscmd -l show them). Written for upsfleet; unknown names get a neutral text.
 */
const VARS: Record<string, string> = {
  'ups.status': 'UPS status',
  'ups.alarm': 'UPS alarms',
  'ups.load': 'Load on UPS (percent)',
  'ups.mfr': 'UPS manufacturer',
  'ups.model': 'UPS model',
  'ups.serial': 'UPS serial number',
  'ups.firmware': 'UPS firmware',
  'ups.temperature': 'UPS temperature (degrees C)',
  'ups.realpower': 'Current value of real power (W)',
  'ups.realpower.nominal': 'Nominal value of real power (W)',
  'ups.power': 'Current value of apparent power (VA)',
  'ups.power.nominal': 'Nominal value of apparent power (VA)',
  'ups.delay.shutdown': 'Interval to wait after shutdown with delay command (seconds)',
  'ups.delay.start': 'Interval to wait before restarting the load (seconds)',
  'ups.timer.shutdown': 'Time before the load will be shut down (seconds)',
  'ups.timer.start': 'Time before the load will be started (seconds)',
  'ups.beeper.status': 'UPS beeper status',
  'ups.test.result': 'Results of last self test',
  'battery.charge': 'Battery charge (percent of full)',
  'battery.charge.low': 'Remaining battery level when UPS switches to LB (percent)',
  'battery.charge.warning': 'Battery level when UPS switches to Warning state (percent)',
  'battery.runtime': 'Battery runtime (seconds)',
  'battery.runtime.low': 'Remaining battery runtime when UPS switches to LB (seconds)',
  'battery.voltage': 'Battery voltage (V)',
  'battery.voltage.nominal': 'Nominal battery voltage (V)',
  'battery.type': 'Battery chemistry',
  'battery.date': 'Battery change date',
  'input.voltage': 'Input voltage (V)',
  'input.voltage.nominal': 'Nominal input voltage (V)',
  'input.frequency': 'Input line frequency (Hz)',
  'input.transfer.low': 'Low voltage transfer point (V)',
  'input.transfer.high': 'High voltage transfer point (V)',
  'output.voltage': 'Output voltage (V)',
  'output.voltage.nominal': 'Nominal output voltage (V)',
  'output.frequency': 'Output frequency (Hz)',
  'output.current': 'Output current (A)',
  'device.mfr': 'Device manufacturer',
  'device.model': 'Device model',
  'device.serial': 'Device serial number',
  'device.type': 'Device type',
  'driver.name': 'Driver name',
  'driver.version': 'Driver version',
};

const COMMANDS: Record<string, string> = {
  'load.off': 'Turn off the load immediately',
  'load.on': 'Turn on the load immediately',
  'load.off.delay': 'Turn off the load with a delay (seconds)',
  'load.on.delay': 'Turn on the load with a delay (seconds)',
  'shutdown.return': 'Turn off the load and return when power is back',
  'shutdown.stayoff': 'Turn off the load and remain off',
  'shutdown.stop': 'Stop a shutdown in progress',
  'shutdown.reboot': 'Shut down the load briefly while rebooting the UPS',
  'test.battery.start': 'Start a battery test',
  'test.battery.start.quick': 'Start a quick battery test',
  'test.battery.start.deep': 'Start a deep battery test',
  'test.battery.stop': 'Stop the battery test',
  'test.panel.start': 'Start testing the UPS panel',
  'test.panel.stop': 'Stop a UPS panel test',
  'calibrate.start': 'Start runtime calibration',
  'calibrate.stop': 'Stop runtime calibration',
  'beeper.enable': 'Enable the UPS beeper',
  'beeper.disable': 'Disable the UPS beeper',
  'beeper.mute': 'Temporarily mute the UPS beeper',
  'beeper.toggle': 'Toggle the UPS beeper',
};

export function describeVariable(name: string): string {
  return VARS[name] ?? 'Description unavailable';
}

export function describeCommand(name: string): string {
  return COMMANDS[name] ?? 'Description unavailable';
}
