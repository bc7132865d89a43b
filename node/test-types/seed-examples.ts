// The seed README's other examples, unchanged but for the import line (the
// README shows no import for StructFactory / StructDefinition); each in its
// own block because they reuse names.
import { StringRef, NumberRef, MapRef, VectorRef, StructFactory, StructDefinition } from 'sharena'

// Types
{
const str = new StringRef() // Empty string (utf8 string)
const num = new NumberRef() // Empty number (64 bit float)
const map = new MapRef() // Key/Value store that holds refs
const vec = new VectorRef() // Dynamic array that holds refs
}

// Structs
{
// Define struct
const Foo = new StructFactory({
key_1: "string",
key_2: "number",
})
const foo = Foo.new({
key_1: "foo",
key_2: 42,
})
console.log(foo.getKey('key_1')) // 'foo'
foo.setKey('key_1', 'something else')
}
{
const Foo = new StructDefinition({
key_1: "string",
key_2: "number",
})
const foo = Foo.new_proxy({
key_1: "foo",
key_2: 42,
})
console.log(foo.key_1) // 'foo'
foo.key_1 = 'bar'
console.log(foo.key_1) // 'bar'
}

// Safety and Memory usage
{
const str = StringRef.from('foo')
console.log(str) // { id: 342 }
console.log(str.obtainValue()) // 'foo'
}

// Manual Memory Management
{
const str = StringRef.from('foo')
console.log(str.obtainValue()) // 'foo'
str.drop() // will deallocate the value
console.log(str.obtainValue()) // Thrown Error ('use after free')
}
