import { randomInt } from "node:crypto";

const ADJECTIVES = [
  "amazing", "bold", "brave", "bright", "calm", "capable", "clean", "clever", "crisp", "curious",
  "dapper", "delicate", "eager", "elegant", "fearless", "gentle", "gifted", "glamorous", "grand", "handsome",
  "honest", "hopeful", "humble", "jolly", "keen", "kind", "lively", "loyal", "lucky", "magnificent",
  "merciful", "mighty", "nimble", "noble", "patient", "peaceful", "placid", "polite", "proud", "quick",
  "quiet", "rare", "resilient", "royal", "serene", "sharp", "shy", "silent", "smiling", "steady",
  "sunny", "swift", "tender", "thoughtful", "tidy", "upbeat", "valiant", "vibrant", "wise", "witty",
];

const NOUNS = [
  "ant", "badger", "bear", "bee", "bird", "bison", "boar", "cat", "cod", "colt",
  "crab", "crane", "crow", "deer", "dog", "dolphin", "donkey", "dove", "eagle", "eel",
  "elk", "falcon", "finch", "fox", "frog", "gnat", "goat", "goose", "gull", "hare",
  "hawk", "hen", "heron", "horse", "ibis", "koala", "lamb", "lark", "lion", "lynx",
  "mole", "moose", "moth", "mouse", "newt", "otter", "owl", "ox", "panda", "pig",
  "quail", "ram", "rat", "robin", "seal", "shark", "sheep", "skunk", "slug", "snail",
  "squid", "stag", "swan", "toad", "trout", "whale", "wolf", "wren", "yak", "zebra",
];

/**
 * A readable random run name in MLflow's style: adjective-noun-number.
 * @example generateRunName() // "serene-otter-417"
 */
export function generateRunName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}-${randomInt(1000)}`;
}
