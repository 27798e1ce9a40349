// undici ships no declaration for its modules, only for the package: the Pool module
// exports the very class the package exports as `Pool`.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici'
  export default Pool
}
