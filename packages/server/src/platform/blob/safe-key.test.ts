import { isCairnError } from "@cairn/contract";
import { describe, expect, it } from "vitest";
import { MAX_BLOB_KEY_BYTES, safeBlobKey, safeBlobPrefix } from "./safe-key.js";

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
    return "ok";
  } catch (e) {
    return isCairnError(e) ? `${e.code}/${e.status}` : e;
  }
}

const REJECTED = "INVALID_PARAMETER_VALUE/400";

describe("safeBlobKey", () => {
  it.each([
    [["a.txt"], "a.txt"],
    [["runs/abc/artifacts", "model/model.pkl"], "runs/abc/artifacts/model/model.pkl"],
    [["a", "b", "c"], "a/b/c"],
    [[".hidden"], ".hidden"],
    [["a/..b/c.."], "a/..b/c.."],
    [["...", "x"], ".../x"],
    [["sp ace/ünï/日本語.txt"], "sp ace/ünï/日本語.txt"],
    [["100%.txt"], "100%.txt"],
    [["a%20b"], "a%20b"],
    [["a%25b"], "a%25b"],
    [["file:name.txt"], "file:name.txt"],
    [["emoji-😀.png"], "emoji-😀.png"],
    [["x".repeat(255)], "x".repeat(255)],
  ])("accepts %j", (parts, expected) => {
    expect(safeBlobKey(...parts)).toBe(expected);
  });

  it.each([
    ["empty", [""]],
    ["no parts", []],
    ["empty part", ["runs", ""]],
    ["parent", [".."]],
    ["parent prefix", ["../etc/passwd"]],
    ["parent inside", ["a/../../b"]],
    ["parent in second part", ["runs/abc", "../../etc"]],
    ["current dir", ["./a"]],
    ["current dir inside", ["a/./b"]],
    ["trailing dot segment", ["a/."]],
    ["absolute", ["/etc/passwd"]],
    ["absolute second part", ["runs", "/etc/passwd"]],
    ["double slash", ["a//b"]],
    ["trailing slash", ["a/"]],
    ["backslash", ["a\\b"]],
    ["backslash parent", ["..\\..\\windows"]],
    ["drive letter", ["C:/windows"]],
    ["drive letter lower", ["c:"]],
    ["drive letter in second part", ["runs", "D:\\x"]],
    ["NUL", ["a\u0000b"]],
    ["newline", ["a\nb"]],
    ["carriage return", ["a\rb"]],
    ["tab", ["a\tb"]],
    ["DEL", ["a\u007fb"]],
    ["C1 control", ["a\u0085b"]],
    ["double-encoded dot dot", ["%2e%2e/x"]],
    ["double-encoded dot dot upper", ["%2E%2E"]],
    ["double-encoded slash", ["a%2fb"]],
    ["double-encoded backslash", ["a%5Cb"]],
    ["double-encoded NUL", ["a%00b"]],
    ["half-encoded dot dot", [".%2e/x"]],
    ["fullwidth dot dot", ["\uff0e\uff0e/x"]],
    ["fullwidth dot", ["\uff0e"]],
    ["two dot leader", ["\u2025"]],
    ["one dot leader pair", ["\u2024\u2024"]],
    ["fullwidth slash", ["a\uff0fb"]],
    ["fullwidth backslash", ["a\uff3cb"]],
    ["small reverse solidus", ["a\ufe68b"]],
    ["lone high surrogate", ["a\ud800b"]],
    ["lone low surrogate", ["a\udc00"]],
    ["segment too long", ["x".repeat(256)]],
    ["multibyte segment too long", ["é".repeat(128)]],
    ["key too long", [Array.from({ length: 10 }, () => "y".repeat(110)).join("/")]],
  ])("rejects %s", (_label, parts) => {
    expect(codeOf(() => safeBlobKey(...parts))).toBe(REJECTED);
  });

  it("accepts a key exactly at the byte limit", () => {
    const key = `${"a".repeat(200)}/`.repeat(5) + "b".repeat(MAX_BLOB_KEY_BYTES - 1005);
    expect(Buffer.byteLength(key)).toBe(MAX_BLOB_KEY_BYTES);
    expect(safeBlobKey(key)).toBe(key);
  });

  it("names the offending path in the message without echoing it raw", () => {
    try {
      safeBlobKey("a\u0000/../b");
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain('"a\\u0000/../b"');
    }
  });
});

describe("safeBlobPrefix", () => {
  it("treats empty parts as the root", () => {
    expect(safeBlobPrefix()).toBe("");
    expect(safeBlobPrefix("")).toBe("");
    expect(safeBlobPrefix("", "")).toBe("");
    expect(safeBlobPrefix("runs/abc", "")).toBe("runs/abc");
    expect(safeBlobPrefix("", "x")).toBe("x");
  });

  it.each([["/"], [".."], ["a//b"], ["a/"], ["/abs"], ["%2e%2e"], ["a\\b"]])("rejects %j", (prefix) => {
    expect(codeOf(() => safeBlobPrefix(prefix))).toBe(REJECTED);
  });
});
