// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Probe
/// @notice View functions exposing the block context and account state as the EVM sees it, for
///         differential eth_call tests, and a gas-burning loop for eth_estimateGas tests.
contract Probe {
    bytes32 public sink;

    event Burned(uint256 iterations, bytes32 result);

    function blockNumber() external view returns (uint256) {
        return block.number;
    }

    function timestamp() external view returns (uint256) {
        return block.timestamp;
    }

    function basefee() external view returns (uint256) {
        return block.basefee;
    }

    function prevrandao() external view returns (uint256) {
        return block.prevrandao;
    }

    function coinbase() external view returns (address) {
        return block.coinbase;
    }

    function gasLimit() external view returns (uint256) {
        return block.gaslimit;
    }

    function chainId() external view returns (uint256) {
        return block.chainid;
    }

    function blockHash(uint256 n) external view returns (bytes32) {
        return blockhash(n);
    }

    function balanceOf(address account) external view returns (uint256) {
        return account.balance;
    }

    function codeSize(address account) external view returns (uint256) {
        return account.code.length;
    }

    function codeHash(address account) external view returns (bytes32) {
        return account.codehash;
    }

    function gasLeft() external view returns (uint256) {
        return gasleft();
    }

    function sender() external view returns (address) {
        return msg.sender;
    }

    function gasPrice() external view returns (uint256) {
        return tx.gasprice;
    }

    /// Everything at once, for one-call comparisons.
    function context()
        external
        view
        returns (
            uint256 number,
            uint256 time,
            uint256 fee,
            uint256 randao,
            address miner,
            uint256 limit,
            uint256 chain,
            bytes32 parentHash
        )
    {
        number = block.number;
        time = block.timestamp;
        fee = block.basefee;
        randao = block.prevrandao;
        miner = block.coinbase;
        limit = block.gaslimit;
        chain = block.chainid;
        parentHash = number > 0 ? blockhash(number - 1) : bytes32(0);
    }

    /// Hashes in a loop `iterations` times (about 100 gas each), stores and returns the result.
    function burn(uint256 iterations) external returns (bytes32 h) {
        h = sink;
        for (uint256 i = 0; i < iterations; i++) {
            // Scratch space, so memory does not grow with the loop.
            assembly {
                mstore(0x00, h)
                mstore(0x20, i)
                h := keccak256(0x00, 0x40)
            }
        }
        sink = h;
        emit Burned(iterations, h);
    }

    /// The loop of `burn` without the storage write, for eth_call.
    function burnView(uint256 iterations) external view returns (bytes32 h) {
        h = sink;
        for (uint256 i = 0; i < iterations; i++) {
            // Scratch space, so memory does not grow with the loop.
            assembly {
                mstore(0x00, h)
                mstore(0x20, i)
                h := keccak256(0x00, 0x40)
            }
        }
    }

    /// Reverts with Error("out of budget") unless at least `minGas` gas is left, so the result of
    /// eth_estimateGas depends on the binary search finding the threshold.
    function needGas(uint256 minGas) external view returns (uint256 left) {
        left = gasleft();
        require(left >= minGas, "out of budget");
    }
}
