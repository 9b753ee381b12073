using System.Collections.Generic;

namespace M3ter.Auth.Testing.Internal;

/// <summary>The latest <c>capacity</c> items in the order added: a ring buffer, so recording never grows without bound.</summary>
internal sealed class BoundedLog<T>(int capacity)
{
    private readonly object _gate = new();
    private readonly Queue<T> _items = new();

    public void Add(T item)
    {
        lock (_gate)
        {
            if (capacity <= 0)
            {
                return;
            }

            if (_items.Count == capacity)
            {
                _items.Dequeue();
            }

            _items.Enqueue(item);
        }
    }

    public T[] Snapshot()
    {
        lock (_gate)
        {
            return _items.ToArray();
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _items.Clear();
        }
    }
}
