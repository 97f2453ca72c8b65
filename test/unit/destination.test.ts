// Requests bound to their destination (docs/protocol.md, "Destination"): the spelling of `to`,
// and which `to` values name a daemon. Address validation's cookies (docs/protocol.md, "Address
// validation").
import { describe, expect, it } from 'vitest';
import { AddressValidation, VALIDATED_MS } from '../../daemon/address-validation.js';
import { OwnAddresses } from '../../daemon/own-addresses.js';
import { canonicalAddress, formatDestination, parseDestination } from '../../shared/destination.js';

describe('the spelling of `to`', () => {
  it('is one per address: IPv6 shortest and lowercase, IPv4-mapped as IPv4', () => {
    expect(formatDestination('192.0.2.10', 1814)).toBe('192.0.2.10:1814');
    expect(formatDestination('2001:DB8:0:0:0:0:0:3', 1814)).toBe('[2001:db8::3]:1814');
    expect(formatDestination('::ffff:192.0.2.1', 9)).toBe('192.0.2.1:9');
    expect(formatDestination('fe80::1%eth0', 9)).toBe('[fe80::1]:9');
    expect(canonicalAddress('not-an-address')).toBeUndefined();
  });

  it('parses what it formats and nothing else', () => {
    expect(parseDestination('[2001:db8:0::3]:1814')).toEqual({ address: '2001:db8::3', family: 6, port: 1814 });
    for (const bad of ['', '192.0.2.1', '192.0.2.1:0', '192.0.2.1:65536', '[192.0.2.1]:5', '2001:db8::3:1814', 'host:1814', '192.0.2.1:18a', '[::1]', '[::1]:5:6', 'x'.repeat(100)]) {
      expect(parseDestination(bad), bad).toBeUndefined();
    }
  });
});

describe('which `to` values name a daemon', () => {
  const interfaces = () => ({
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }, { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', mac: '00:00:00:00:00:00', internal: true, cidr: '::1/128', scopeid: 0 }],
    eth0: [{ address: '192.0.2.10', netmask: '255.255.255.0', family: 'IPv4', mac: '52:54:00:00:00:01', internal: false, cidr: '192.0.2.10/24' }, { address: '2001:db8::a', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '52:54:00:00:00:01', internal: false, cidr: '2001:db8::a/64', scopeid: 0 }],
  }) as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>;

  it('a daemon bound to one address: that address at its port, and what it advertises', () => {
    const own = new OwnAddresses({ bind: '192.0.2.10', port: 1814, advertise: ['198.51.100.7:21814', '[2001:db8::99]:1814'], interfaces });
    expect(own.matches('192.0.2.10:1814')).toBe(true);
    expect(own.matches('198.51.100.7:21814')).toBe(true);
    expect(own.matches('[2001:DB8::99]:1814'.toLowerCase())).toBe(true);
    expect(own.matches('[2001:db8:0:0::99]:1814')).toBe(true);
    for (const other of ['192.0.2.10:1815', '192.0.2.11:1814', '127.0.0.1:1814', '[2001:db8::a]:1814', '198.51.100.7:1814', 'garbage']) expect(own.matches(other), other).toBe(false);
  });

  it('a wildcard bind: every interface address, the loopback range, at its port only', () => {
    const own = new OwnAddresses({ bind: '::', port: 1814, interfaces });
    for (const mine of ['127.0.0.1:1814', '127.0.0.5:1814', '[::1]:1814', '192.0.2.10:1814', '[2001:db8::a]:1814', '[::ffff:192.0.2.10]:1814']) expect(own.matches(mine), mine).toBe(true);
    for (const other of ['192.0.2.10:1815', '192.0.2.99:1814', '[2001:db8::b]:1814', '[::2]:1814']) expect(own.matches(other), other).toBe(false);
  });

  it('takes up an address added at run time (interfaces are read again on a miss, at most once a second)', () => {
    let now = 1_000_000;
    let extra = false;
    const own = new OwnAddresses({
      bind: undefined,
      port: 1814,
      now: () => now,
      interfaces: () => {
        const i = interfaces();
        if (extra) i.eth1 = [{ address: '203.0.113.5', netmask: '255.255.255.0', family: 'IPv4', mac: '52:54:00:00:00:02', internal: false, cidr: '203.0.113.5/24' }];
        return i;
      },
    });
    expect(own.matches('203.0.113.5:1814')).toBe(false);
    extra = true;
    now += 500;
    expect(own.matches('203.0.113.5:1814')).toBe(false);
    now += 600;
    expect(own.matches('203.0.113.5:1814')).toBe(true);
  });
});

describe('address validation', () => {
  it('a cookie validates the address it was made for, for its epoch and the next, and no other', () => {
    let now = 1_800_000_000_000;
    const v = new AddressValidation({ now: () => now });
    const c = v.cookie('192.0.2.7');
    expect(c).toHaveLength(16);
    expect(v.isValidated('192.0.2.7')).toBe(false);
    expect(v.accept('192.0.2.8', c)).toBe(false);
    expect(v.accept('192.0.2.7', Buffer.alloc(16))).toBe(false);
    expect(v.accept('192.0.2.7', c.subarray(0, 15))).toBe(false);
    expect(v.isValidated('192.0.2.8')).toBe(false);
    now += 5 * 60_000;
    expect(v.accept('192.0.2.7', c)).toBe(true);
    expect(v.isValidated('192.0.2.7')).toBe(true);
    now += VALIDATED_MS + 1;
    expect(v.isValidated('192.0.2.7')).toBe(false);
    // Two epochs on, the cookie is stale.
    expect(v.accept('192.0.2.7', c)).toBe(false);
  });

  it('keeps at most its capacity of validated addresses, forgetting the oldest', () => {
    const v = new AddressValidation({ capacity: 3 });
    for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']) expect(v.accept(a, v.cookie(a))).toBe(true);
    expect(v.size).toBe(3);
    expect(v.isValidated('10.0.0.1')).toBe(false);
    expect(v.isValidated('10.0.0.4')).toBe(true);
  });
});
