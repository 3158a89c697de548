// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Store
/// @notice Writes and deletes storage: a uint256 => uint256 mapping at slot 0, a counter at slot 1
///         and raw slots addressed directly. Every change emits an event with indexed topics.
contract Store {
    /// slot 0: values[key] lives at keccak256(abi.encode(key, uint256(0)))
    mapping(uint256 => uint256) public values;
    /// slot 1: number of non-zero writes so far
    uint256 public writes;

    event Stored(address indexed who, uint256 indexed key, uint256 indexed value);
    event Cleared(address indexed who, uint256 indexed key);
    event RawStored(bytes32 indexed slot, bytes32 value);
    /// An anonymous event (LOG1 with no signature topic).
    event Note(uint256 indexed key, bytes data) anonymous;

    function set(uint256 key, uint256 value) external {
        values[key] = value;
        writes += 1;
        emit Stored(msg.sender, key, value);
    }

    function clear(uint256 key) external {
        delete values[key];
        emit Cleared(msg.sender, key);
        emit Note(key, abi.encodePacked(msg.sender));
    }

    /// Writes `value` to raw storage slot `slot` (zero deletes it).
    function setRaw(bytes32 slot, bytes32 value) external {
        assembly {
            sstore(slot, value)
        }
        emit RawStored(slot, value);
    }

    /// Writes `count` consecutive raw slots starting at `start`, each to `value`.
    function fill(uint256 start, uint256 count, bytes32 value) external {
        for (uint256 i = 0; i < count; i++) {
            assembly {
                sstore(add(start, i), value)
            }
        }
    }

    function getRaw(bytes32 slot) external view returns (bytes32 value) {
        assembly {
            value := sload(slot)
        }
    }
}
