import { expect, test } from "bun:test";
import { ipv6Text } from "./ipv6-text.ts";

test("RFC 5952: longest zero run as ::, first of equal runs, a single zero group kept", () => {
  expect(ipv6Text([0, 0, 0, 0, 0, 0, 0, 1])).toBe("::1");
  expect(ipv6Text([0, 0, 0, 0, 0, 0, 0, 0])).toBe("::");
  expect(ipv6Text([0xfe80, 0, 0, 0, 0x1ff, 0xfe23, 0x4567, 0x890a])).toBe("fe80::1ff:fe23:4567:890a");
  expect(ipv6Text([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])).toBe("2001:db8:0:1:1:1:1:1");
  expect(ipv6Text([0x2001, 0, 0, 1, 0, 0, 0, 1])).toBe("2001:0:0:1::1");
  expect(ipv6Text([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])).toBe("2001:db8::1:0:0:1");
  expect(ipv6Text([1, 0, 0, 0, 0, 0, 0, 0])).toBe("1::");
});
