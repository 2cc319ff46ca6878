// Lua scripts imported as text (`import x from "./x.lua" with { type: "text" }`): Bun inlines them when bundling.
declare module "*.lua" {
  const text: string;
  export default text;
}
