import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'dist-emulator/**', '.dev/**', 'coverage/**', '.tap/**', 'bench/results/**'] }),
]
