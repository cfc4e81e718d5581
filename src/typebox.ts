// The one place the project imports TypeBox from (one TypeBox family: @sinclair/typebox 0.34).
export { Type, type Static, type TSchema } from '@sinclair/typebox'
export { Value } from '@sinclair/typebox/value'
